"""One run, start to finish, in this process: the headless core behind ``memscope run``.

Order: check every name and option (before any work) -> load data and apply noise ->
create the run directory -> train with the in-training collectors -> the post-training
analyses, each isolated (one that raises is marked failed, the others go on).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from memscope import __version__
from memscope.analysis.base import Analysis
from memscope.config import RunConfig, build_dataclass, config_to_dict, config_to_toml
from memscope.errors import ConfigError, MemscopeError, RunCancelled, RunFailed, StoreError
from memscope.plugins import PluginHost
from memscope.seeding import stream_seed
from memscope.store.home import Home
from memscope.store.lock import RunLock
from memscope.store.runinfo import RunInfo, new_run_id, now_iso, read_run_info
from memscope.store.writer import RunWriter
from memscope.models.evaluation import test_loss_acc
from memscope.models.example_tied_dropout import kept_mode
from memscope.models.groups import count_parameters
from memscope.progress import Progress
from memscope.train import checkpoints
from memscope.train.context import RunContext
from memscope.train.isolated_analysis import clear_before_rerun, run_analysis
from memscope.train.prepare import DeviceData, pick_device, prepare, to_device
from memscope.train.resume_parts import STATIC_TABLES, analyses_to_rerun, tidy_for_resume
from memscope.train.run_tables import epoch_metrics, write_example_epoch, write_examples, write_layers
from memscope.train.stop_flag import StopFlag
from memscope.train.trainer import Trainer

@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    status: str
    final: dict[str, float] = field(default_factory=dict)
    analyses: dict[str, dict[str, Any]] = field(default_factory=dict)


# --------------------------------------------------------------------------- planning


def make_analyses(config: RunConfig, host: PluginHost, source: str = "config") -> list[Analysis]:
    """Instantiate the configured analyses with their options (unknown name/option = error)."""
    registry = host.registries.analyses
    for name in config.analysis:  # options for an analysis that is not listed are kept, but must name a real one
        if name not in registry:
            from memscope.suggest import did_you_mean

            raise ConfigError(f"{source}: [analysis.{name}]: unknown analysis '{name}'{did_you_mean(name, registry.names())}; installed: {', '.join(registry.names())}")
    out = []
    for name in config.analyses:
        cls = registry.get(name)
        options = build_dataclass(cls.Options, config.analysis.get(name, {}), source=source, prefix=f"analysis.{name}")
        out.append(cls(options))
    return out


def model_factory(config: RunConfig, host: PluginHost, data: DeviceData):
    name = config.model.name
    if name.startswith("timm:"):
        from memscope.models import resolve_timm

        factory = resolve_timm(name.split(":", 1)[1])
    else:
        factory = host.registries.models.get(name)

    def build() -> torch.nn.Module:
        # The initial weights come from the run's "init" stream; forking keeps the global
        # generator untouched for whoever calls build() mid-run (analyses).
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(config.seed, "init"))
            try:
                return factory(data.num_classes, data.in_channels, data.image_size, config.model.width, **config.model.options)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"model '{name}': {exc}") from None

    return build


def git_sha() -> str:
    try:
        here = Path(__file__).resolve().parent
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True, timeout=2)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


# --------------------------------------------------------------------------- the run


class Run:
    """Everything one run process holds. ``start`` or ``resume``, then ``execute``."""

    def __init__(self, config: RunConfig, home: Home, host: PluginHost, *, progress: bool = True, source: str = "config"):
        if config.data.path:  # relative data paths are relative to where memscope was started
            absolute = "+".join(str(Path(p).expanduser().absolute()) for p in config.data.path.split("+"))
            config = dataclasses.replace(config, data=dataclasses.replace(config.data, path=absolute))
        self.config = config
        self.home = home
        self.host = host
        self.source = source
        self.stop = StopFlag()
        self.progress = Progress(config.train.epochs, enabled=progress)
        host.check_names(config, source)
        self.analyses = make_analyses(config, host, source)
        self.device = pick_device(config.device)
        self.first_epoch = 1
        self.resume_state: dict[str, Any] | None = None
        self.resumed = False
        self.lock: RunLock | None = None  # the run directory's writer lock, from start/resume to the end of execute

    # ------------------------------------------------------------------ set-up

    def _build(self, run_id: str) -> None:
        config = self.config
        self.prepared = prepare(config, self.host.registries, Path(config.data.data_dir or self.home.data_dir))
        self.data = to_device(self.prepared, self.device)
        build = model_factory(config, self.host, self.data)
        self.build_model = lambda: build().to(self.device)
        self.model = self.build_model()
        self._set_threads()
        try:
            self.groups = list(self.model.layer_groups())
        except AttributeError:
            raise ConfigError(f"model '{config.model.name}' does not declare layer_groups(); see docs/plugins.md") from None
        self.etd = None
        if config.etd.enabled:
            from memscope.models.example_tied_dropout import ExampleTiedDropout, default_etd_groups

            names = {g.name: g for g in self.groups}
            missing = [n for n in config.etd.layers if n not in names]
            if missing:
                raise ConfigError(f"etd.layers: layer '{missing[0]}' does not exist; layers: {', '.join(names)}")
            chosen = [names[n] for n in config.etd.layers] or default_etd_groups(self.groups, self.model)
            self.etd = ExampleTiedDropout(self.model, chosen, config.seed, config.etd.p_gen, config.etd.p_mem, config.etd.dropped_scale)
        self.writer = RunWriter(self.home, run_id)
        self.ctx = RunContext(
            config=config,
            run_id=run_id,
            home=self.home,
            device=self.device,
            prepared=self.prepared,
            data=self.data,
            model=self.model,
            groups=self.groups,
            writer=self.writer,
            build_model=self.build_model,
            etd=self.etd,
            host=self.host,
            report=self.progress.message,
            report_steps=self.progress.steps,
        )
        for analysis in self.analyses:
            self.ctx.analysis_name = analysis.name
            analysis.validate(self.ctx)
        self.ctx.analysis_name = ""

    def _set_threads(self) -> None:
        """Small models gain nothing from intra-op threads on a CPU and lose a lot when the
        cores are shared (3-4x slower on 2 busy cores), so they get one thread by default."""
        if self.device.type != "cpu":
            return
        threads = self.config.threads
        if threads == 0 and count_parameters(self.model) < 1_000_000:
            threads = 1
        if threads > 0:
            torch.set_num_threads(threads)

    def _declare_tables(self) -> None:
        for analysis in self.analyses:
            for table, schema in analysis.tables.items():
                self.writer.declare_table(table, schema)

    def _info_fields(self) -> dict[str, Any]:
        c = self.config
        return {
            "name": c.label,
            "dataset": c.data.dataset,
            "model": c.model.name,
            "noise_model": c.noise.model,
            "noise_rate": c.noise.rate,
            "seed": c.seed,
            "epochs": c.train.epochs,
            "device": str(self.device),
            "analyses_requested": list(c.analyses),
            "tags": dict(c.tags),
            "sweep_id": c.tags.get("sweep_id"),
            "config": config_to_dict(c),  # the runs view's hyperparameter columns and its config column
        }

    def start(self) -> str:
        """Create the run directory and write what is known before training."""
        self.home.ensure()
        self.stop.install()  # from here on, SIGTERM/Ctrl-C end the run as 'cancelled'
        run_id = new_run_id(self.config.label)
        self._build(run_id)  # data, model and options are checked before the run dir exists
        run_dir = self.home.run_dir(run_id)
        try:
            run_dir.mkdir(parents=True)
            self.lock = RunLock(run_dir).acquire()  # before the first file of the run
            (run_dir / "config.toml").write_text(config_to_toml(self.config), encoding="utf-8")
        except OSError as exc:
            raise StoreError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}") from None
        prepared = self.prepared
        self.info = RunInfo(
            run_dir,
            {
                "run_id": run_id,
                "status": "running",
                "pid": os.getpid(),
                "hostname": socket.gethostname(),
                "created_at": now_iso(),
                "started_at": now_iso(),
                "finished_at": None,
                "error": None,
                "epoch": 0,
                "num_train": int(len(prepared.train_ids)),
                "num_test": int(len(prepared.test_ids)),
                "num_noisy": int(prepared.is_noisy.sum()),
                "num_classes": prepared.num_classes,
                "data_source": prepared.arrays.source,
                "memscope_version": __version__,
                "torch_version": torch.__version__,
                "git_sha": git_sha(),
                "analyses": {a.name: {"status": "pending"} for a in self.analyses},
                "plugin_errors": [f"{n}: {e}" for n, e in self.host.errors()],
                **self._info_fields(),
            },
        )
        self._write_static_tables()
        self._declare_tables()
        checkpoints.save_weights(run_dir, 0, self.model)
        return run_id

    def resume(self, run_id: str, overrides: list[str] | None = None) -> str:
        """Continue ``run_id`` from its last checkpoint; ``overrides`` are the (already
        checked, see :mod:`memscope.train.resume_policy`) --set values, recorded in run.json."""
        run_dir = self.home.run_dir(run_id)
        self.lock = RunLock(run_dir).acquire()  # one writer: a second resume stops here (RunBusy, exit 2)
        old = read_run_info(run_dir)  # read under the lock: the last writer has finished
        self.stop.install()
        state = checkpoints.load_resume_state(run_dir)
        self._build(run_id)
        if state is not None:
            checkpoints.apply_weights(self.model, state["model"], "the resume checkpoint")
            self.first_epoch = int(state["epoch"]) + 1
            self.resume_state = state
        elif 0 in checkpoints.saved_epochs(run_dir):  # crashed before the first epoch ended: start from the initial weights
            checkpoints.apply_weights(self.model, checkpoints.load_weights(run_dir, 0, self.device), "checkpoint epoch 0")
        else:  # killed during start-up: _build made the same initial weights from the seed
            checkpoints.save_weights(run_dir, 0, self.model)
        parts = tidy_for_resume(self.home, run_dir, self.first_epoch - 1, old, self.analyses, self.config.train.track_examples)
        self.resumed = True
        analyses = dict(old.get("analyses") or {})
        for name in analyses_to_rerun(self.analyses, parts):
            analyses[name] = {"status": "pending", "note": "runs again: a damaged part of its table was moved aside"}
        extra: dict[str, Any] = {"analyses": analyses}
        if parts.moved:
            extra["quarantined"] = [*(old.get("quarantined") or []), *({**m.as_dict(), "at": now_iso()} for m in parts.moved)]
        if overrides:  # checked by memscope.train.resume_policy: only safe ones get here
            extra["resume_overrides"] = [*(old.get("resume_overrides") or []), {"at": now_iso(), "set": list(overrides)}]
            if self.config.train.epochs != old.get("epochs"):  # more epochs: a new final model to analyse
                for analysis in self.analyses:
                    if analysis.runs_after_training():
                        analyses[analysis.name] = {"status": "pending", "note": "runs again: train.epochs grew on resume"}
            extra.update({**self._info_fields(), "analyses": analyses})
            try:
                (run_dir / "config.toml").write_text(config_to_toml(self.config), encoding="utf-8")
            except OSError as exc:
                raise StoreError(f"cannot write {run_dir / 'config.toml'}: {exc.strerror or exc}") from None
        self.info = RunInfo(run_dir, {**old, **extra, "status": "running", "pid": os.getpid(), "hostname": socket.gethostname(), "error": None, "finished_at": None, "resumed_at": now_iso(), "epoch": self.first_epoch - 1})
        # start-up may have been cut short, or a damaged part was moved aside: rewrite them
        static = set(STATIC_TABLES) if state is None else parts.tables & set(STATIC_TABLES)
        for table in sorted(static):
            self.writer.clear(table)
        self._write_static_tables(static)
        self._declare_tables()
        return run_id

    def _write_static_tables(self, tables=STATIC_TABLES) -> None:
        if "examples" in tables:
            write_examples(self.writer, self.prepared)
        if "layers" in tables:
            write_layers(self.writer, self.model, self.groups)


    # ------------------------------------------------------------------ training

    def _train(self) -> dict[str, float]:
        config, ctx = self.config, self.ctx
        in_training = [a for a in self.analyses if a.collects()]
        trainer = Trainer(
            self.model,
            self.data,
            config.train,
            config.seed,
            self.device,
            analyses=in_training,
            ctx=ctx,
            etd=self.etd,
            augment=config.data.augment,
            should_stop=self.stop,
        )
        def batch_error(analysis: Analysis, exc: Exception) -> None:
            if isinstance(exc, (RunCancelled, RunFailed)) or os.environ.get("MEMSCOPE_STRICT_PLUGINS", "") in ("1", "true"):
                raise exc
            message = exc.message if isinstance(exc, MemscopeError) else f"{exc.__class__.__name__}: {exc}"
            self._drop(analysis, f"after_batch: {message}", in_training, trainer)

        trainer.on_analysis_error = batch_error
        if self.resume_state is not None:
            trainer.load_state_dict(self.resume_state["trainer"])
        for analysis in list(in_training):
            self._guard(analysis, "setup", lambda a=analysis: a.setup(ctx), in_training, trainer)
        self._lifecycle("before_train", run=ctx)
        metrics: dict[str, float] = {}
        for epoch in range(self.first_epoch, config.train.epochs + 1):
            stats = trainer.train_epoch(epoch)
            with kept_mode(self.etd):
                test = test_loss_acc(self.model, self.data, config.train.eval_batch_size, trainer.autocast())
            metrics = epoch_metrics(stats, self.prepared, test)
            if config.train.track_examples:
                write_example_epoch(self.writer, self.prepared, stats)
            for analysis in list(in_training):
                self._guard(analysis, "collect", lambda a=analysis: a.collect(ctx, epoch), in_training, trainer)
            self.writer.write("epochs", {k: [v] for k, v in metrics.items()})
            run_dir = self.info.run_dir
            if checkpoints.checkpoint_due(epoch, config.train.epochs, config.train.checkpoint_every):
                checkpoints.save_or_explain(run_dir, self.model, lambda: checkpoints.save_weights(run_dir, epoch, self.model))
            checkpoints.save_or_explain(run_dir, self.model, lambda: checkpoints.save_resume_state(
                run_dir,
                {"epoch": epoch, "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()}, "trainer": trainer.state_dict()},
            ))
            self.info.update(epoch=epoch, **{k: metrics[k] for k in ("clean_train_acc", "noisy_train_acc", "test_acc", "train_loss")})
            self._lifecycle("after_epoch", run=ctx, epoch=epoch, metrics=metrics)
            self.progress.epoch(epoch, metrics)
        for analysis in in_training:
            if not analysis.runs_after_training():
                self._set_analysis(analysis.name, {"status": "completed"})
        return metrics

    def _lifecycle(self, hook: str, **kwargs: Any) -> None:
        """Call a lifecycle hook; a plugin that raises is reported (stderr, run.json), not fatal."""
        for plugin, error in self.host.call_each(hook, **kwargs):
            print(f"memscope: warning: plugin {plugin} failed in {hook}: {error}", file=sys.stderr, flush=True)
            errors = list(self.info.data.get("plugin_errors", []))
            errors.append(f"{plugin}: {error}")
            self.info.update(plugin_errors=errors)

    def _set_analysis(self, name: str, entry: dict[str, Any]) -> None:
        analyses = dict(self.info.data.get("analyses", {}))
        analyses[name] = entry
        self.info.update(analyses=analyses)

    def _guard(self, analysis: Analysis, phase: str, call, in_training: list, trainer: Trainer) -> None:
        """Run an in-training analysis hook; one that raises is dropped and marked failed."""
        self.ctx.analysis_name = analysis.name
        try:
            call()
        except (RunCancelled, RunFailed, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("MEMSCOPE_STRICT_PLUGINS", "") in ("1", "true"):
                raise
            message = exc.message if isinstance(exc, MemscopeError) else f"{exc.__class__.__name__}: {exc}"
            self._drop(analysis, f"{phase}: {message}", in_training, trainer)
        finally:
            self.ctx.analysis_name = ""

    def _drop(self, analysis: Analysis, message: str, in_training: list, trainer: Trainer) -> None:
        if analysis in in_training:
            in_training.remove(analysis)
        trainer.remove_analysis(analysis)
        self._set_analysis(analysis.name, {"status": "failed", "error": message})
        self.progress.message(f"analysis {analysis.name}: failed: {message}")

    def _post_training(self) -> None:
        post = [a for a in self.analyses if a.runs_after_training()]
        for analysis in post:
            if self.stop():
                raise RunCancelled("cancelled before analysis " + analysis.name)
            if self.resumed:
                if self.info.data.get("analyses", {}).get(analysis.name, {}).get("status") == "completed":
                    continue  # finished before the interruption: its rows are complete
                clear_before_rerun(self.writer, analysis)  # an interrupted attempt may have left some rows
            self.stop.immediate = True  # an analysis has no step boundary to stop at
            try:
                run_analysis(self.ctx, analysis, self.info, self.progress)
            finally:
                self.stop.immediate = False

    def execute(self) -> RunResult:
        """Train and analyse; always leaves run.json with a final status."""
        self.stop.install()
        _reserve_space(self.info.run_dir)
        self.info.start_heartbeat()
        status, error = "failed", None
        try:
            if self.stop():
                raise RunCancelled("before training started")
            self._train()
            self._post_training()
            status = "completed"
        except RunCancelled as exc:
            status, error = "cancelled", str(exc)
            run_id = self.info.data["run_id"]
            raise RunCancelled(f"run {run_id} {exc}; continue it with: memscope run --resume {run_id}") from None
        except MemscopeError as exc:
            error = exc.message
            run_id = self.info.data["run_id"]
            hint = f"; fix that, then continue it with: memscope run --resume {run_id}" if isinstance(exc, StoreError) else ""
            raise RunFailed(f"run {run_id} failed: {error}{hint}") from None
        except KeyboardInterrupt:
            status, error = "cancelled", "interrupted"
            run_id = self.info.data["run_id"]
            raise RunCancelled(f"run {run_id} interrupted; continue it with: memscope run --resume {run_id}") from None
        except Exception as exc:
            error = f"{exc.__class__.__name__}: {exc}"
            self._save_traceback()
            raise RunFailed(f"run {self.info.data['run_id']} failed: {error} (traceback in {self.info.run_dir / 'error.log'})") from None
        finally:
            self.progress.close()  # the summary and errors print below the finished bars
            self.info.stop_heartbeat()
            self.stop.uninstall()
            final = {}
            if status == "completed":
                with kept_mode(self.etd):
                    final = self.ctx.evaluate_splits(self.model)
            reserve = self.info.run_dir / SPACE_RESERVE
            try:
                self.info.update(status=status, error=error, finished_at=now_iso(), **final)
            except StoreError:  # a full disk: give back the reserve and write the status with it
                reserve.unlink(missing_ok=True)
                with contextlib.suppress(StoreError):
                    self.info.update(status=status, error=error, finished_at=now_iso(), **final)
            reserve.unlink(missing_ok=True)
            try:
                self._lifecycle("after_train", run=self.ctx, status=status)
            except StoreError:
                pass
            if self.lock is not None:
                self.lock.release()  # the run directory is free for the next writer
        return RunResult(self.info.data["run_id"], self.info.run_dir, status, final, self.info.data.get("analyses", {}))

    def _save_traceback(self) -> None:
        try:
            (self.info.run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
        except OSError:
            pass


#: A small file a run holds while it executes, so that a full disk still leaves room for its
#: final status in run.json (deleted before that write is retried, and when the run ends).
SPACE_RESERVE = ".space-reserve"


def _reserve_space(run_dir: Path) -> None:
    with contextlib.suppress(OSError):
        (run_dir / SPACE_RESERVE).write_bytes(bytes(64 * 1024))
