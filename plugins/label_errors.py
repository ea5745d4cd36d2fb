"""Label errors: which memorization signal finds the mislabeled training examples?

Every analysis that scores training examples hints at which labels are wrong: mislabeled
examples keep a high loss and a low margin for longer, are forgotten more often, need fewer
neurons zeroed to flip, and lose their prediction when example-tied dropout drops the
memorization channels. This analysis gathers *every* per-example score the run holds,
ranks the training examples by each one (most suspicious first), and, when the run injected
label noise, scores each ranking against the truth (``examples.is_noisy``).

It reads what the other analyses wrote, so list it **last**::

    analyses = ["forgetting_events", "data_maps", "neuron_flipping", "label_errors"]

or run it on a finished run, where it sees everything the run holds::

    memscope analyze RUN_ID -a label_errors

Signals (a missing table or analysis just means fewer signals):

- from ``example_epochs`` (every run with ``train.track_examples``): ``example_epochs.final_loss``
  (higher = more suspicious), ``example_epochs.mean_loss`` (higher), ``example_epochs.final_margin``
  (lower) and ``example_epochs.aum`` (the mean margin over training, Pleiss et al. 2020; lower);
- every metric in ``example_scores`` except this analysis's own, named ``<analysis>.<metric>``:
  ``forgetting_events.forgetting_events`` (higher), ``forgetting_events.learned_epoch`` (higher),
  ``data_maps.confidence`` (lower), ``data_maps.variability`` (higher), ``data_maps.correctness``
  (lower), ``neuron_flipping.neurons_to_flip`` (lower: fewer neurons to flip = more suspicious),
  ``etd.dropped_correct`` and ``etd.dropped_margin`` (lower: right only through the memorization
  channels), and any plugin's metric (direction ``higher`` unless ``directions`` says otherwise);
- ``neuron_flips.neurons_to_flip`` from the ``neuron_flips`` table when ``neuron_flipping`` wrote
  no example scores (an unflipped example counts as needing more than the most seen).

A signal whose AUROC is below 0.5 gets a note saying what the opposite direction would
score: ``data_maps.variability`` is high for noisy labels the network memorizes late, and low
for noisy labels it never learns (the data-maps paper's "hard-to-learn" corner).

A signal that repeats another's values exactly (``data_maps.aum`` and ``example_epochs.aum``
over the same epochs) is listed once, with a note.

Each ranking is scored on the examples that have the score (``coverage`` is their share of
the training set; ``neuron_flipping`` scores a sample): ``auroc`` and ``average_precision``
(scikit-learn) and ``precision_at_k`` with ``k`` = the number of noisy examples among them
(ties at the cut-off count in proportion, as a random tie-break would on average).
scikit-learn is this plugin's extra, not a memscope dependency:
``pip install 'memscope-explorer[label-errors]'`` (with cleanlab: ``[cleanlab]``).

Baselines, ranked alongside:

- ``combined``: the mean, over the signals (``combine``; default all), of each example's
  percentile rank (1 = most suspicious), over the signals that cover it;
- ``random``: what a random ranking scores on average (AUROC 0.5, AP = precision = noise rate);
- ``cleanlab.label_quality``: confident learning (Northcutt et al. 2021) when ``cleanlab`` is
  installed (``pip install 'memscope-explorer[cleanlab]'``; otherwise the row says so). Confident learning needs
  out-of-sample predicted probabilities, which the run's own model cannot give (it memorized
  the noisy labels). By default (``cleanlab_model = "run_model"``) memscope trains a fresh model
  of the run's architecture per fold (``cleanlab_folds``, stratified) with the run's optimizer
  settings for ``cleanlab_epochs`` epochs, no augmentation, and predicts the held-out fold: the
  honest comparison, at the cost of about ``cleanlab_epochs x (folds - 1)`` epochs of training.
  ``cleanlab_model = "logreg"`` uses scikit-learn logistic regression on the normalized pixels
  instead: seconds on digits or an MNIST subset, a weaker model. The row's score is cleanlab's
  label quality (self-confidence; lower = more suspicious); its note gives the precision and
  recall of the examples ``find_label_issues`` flags.

Tables:

- ``label_errors_leaderboard``: one row per signal: ``rank`` (by AUROC), ``signal``, ``source``,
  ``direction``, ``baseline``, ``coverage``, ``examples``, ``k``, ``auroc``, ``average_precision``,
  ``precision_at_k``, ``note``. Without injected noise the metrics are null.
- ``example_scores`` (``analysis = "label_errors"``): ``combined_score`` (mean percentile, 1 =
  most suspicious) and ``combined_rank`` (1 = the most suspicious example), and with cleanlab
  ``cleanlab_label_quality`` and ``cleanlab_issue`` (1 = flagged).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from memscope import hookimpl
from memscope.analysis import Analysis
from memscope.errors import ConfigError
from memscope.store.schemas import CORE_TABLES

__version__ = "0.1.0"

HIGHER, LOWER = "higher", "lower"

#: Which end of each known signal is suspicious (more likely mislabeled).
DIRECTIONS: dict[str, str] = {
    "example_epochs.final_loss": HIGHER,
    "example_epochs.mean_loss": HIGHER,
    "example_epochs.final_margin": LOWER,
    "example_epochs.aum": LOWER,
    "forgetting_events.forgetting_events": HIGHER,
    "forgetting_events.learned_epoch": HIGHER,
    "data_maps.confidence": LOWER,
    "data_maps.variability": HIGHER,
    "data_maps.correctness": LOWER,
    "data_maps.aum": LOWER,
    "neuron_flipping.neurons_to_flip": LOWER,
    "neuron_flips.neurons_to_flip": LOWER,
    "etd.dropped_correct": LOWER,
    "etd.dropped_margin": LOWER,
    "cleanlab.label_quality": LOWER,
}


@dataclass(frozen=True)
class LabelErrorsOptions:
    directions: dict[str, str] = field(default_factory=dict)  # signal -> "higher" or "lower" (suspicious end) for plugin metrics; default higher
    exclude: tuple[str, ...] = ()  # signals to leave out of the leaderboard and the combined rank
    combine: tuple[str, ...] = ()  # signals the combined rank averages; empty = every signal
    cleanlab: str = "auto"  # confident-learning baseline: auto (when cleanlab is installed) or off
    cleanlab_model: str = "run_model"  # out-of-sample probabilities: run_model (k-fold, the run's architecture) or logreg (pixels)
    cleanlab_folds: int = 4  # folds for the out-of-sample probabilities
    cleanlab_epochs: int = 10  # run_model: epochs per fold; 0 = the run's own epochs


@dataclass
class Signal:
    name: str
    source: str  # the analysis or table it comes from
    direction: str  # higher | lower: the suspicious end
    values: np.ndarray  # one per training example (NaN = no score)
    baseline: bool = False
    notes: list[str] = field(default_factory=list)

    def suspicion(self) -> np.ndarray:
        """Higher = more suspicious, whatever the direction."""
        return self.values if self.direction == HIGHER else -self.values


# --------------------------------------------------------------------------- metrics


def precision_at_k(suspicion: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of noisy examples among the ``k`` most suspicious; ties at the cut-off count in
    proportion (the expected value under a random tie-break)."""
    if k <= 0 or len(suspicion) == 0:
        return float("nan")
    k = min(k, len(suspicion))
    threshold = np.sort(suspicion)[::-1][k - 1]
    above = suspicion > threshold
    tied = suspicion == threshold
    hits = truth[above].sum() + (k - above.sum()) * truth[tied].mean()
    return float(hits / k)


def ranking_metrics(suspicion: np.ndarray, truth: np.ndarray) -> dict[str, float | int | None]:
    """AUROC, average precision and precision at k (k = number of noisy examples)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    truth = np.asarray(truth, dtype=bool)
    k = int(truth.sum())
    if k == 0 or k == len(truth):
        return {"auroc": None, "average_precision": None, "precision_at_k": None, "k": k}
    return {
        "auroc": float(roc_auc_score(truth, suspicion)),
        "average_precision": float(average_precision_score(truth, suspicion)),
        "precision_at_k": precision_at_k(suspicion, truth, k),
        "k": k,
    }


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Average ranks scaled to (0, 1]: 1 = the highest value."""
    from scipy.stats import rankdata

    return rankdata(values, method="average") / len(values)


# --------------------------------------------------------------------------- the analysis


class LabelErrors(Analysis):
    """Ranks training examples as likely mislabeled by every per-example score; a leaderboard against the injected noise."""

    name = "label_errors"
    version = __version__
    Options = LabelErrorsOptions
    tables = {
        "label_errors_leaderboard": pa.schema(
            [
                ("rank", pa.int32()),  # 1 = the best AUROC
                ("signal", pa.string()),
                ("source", pa.string()),
                ("direction", pa.string()),  # higher | lower: which end is suspicious
                ("baseline", pa.bool_()),  # combined, random, cleanlab
                ("coverage", pa.float64()),  # share of the training examples with the score
                ("examples", pa.int64()),
                ("k", pa.int64()),  # noisy examples among them
                ("auroc", pa.float64()),
                ("average_precision", pa.float64()),
                ("precision_at_k", pa.float64()),
                ("note", pa.string()),
            ]
        ),
        "example_scores": CORE_TABLES["example_scores"],
    }

    def validate(self, ctx) -> None:
        if importlib.util.find_spec("sklearn") is None:  # the plugin's extra, not a core dependency
            raise ConfigError(
                "analysis 'label_errors' needs scikit-learn: pip install 'memscope-explorer[label-errors]' (or pip install scikit-learn)"
            )
        o = self.options
        bad = {s: d for s, d in o.directions.items() if d not in (HIGHER, LOWER)}
        if bad:
            raise ConfigError(f"[analysis.label_errors] directions: use 'higher' or 'lower', got {bad}")
        if o.cleanlab not in ("auto", "off"):
            raise ConfigError(f"[analysis.label_errors] cleanlab = {o.cleanlab!r}: use 'auto' or 'off'")
        if o.cleanlab_model not in ("run_model", "logreg"):
            raise ConfigError(f"[analysis.label_errors] cleanlab_model = {o.cleanlab_model!r}: use 'run_model' or 'logreg'")
        if o.cleanlab_folds < 2 or o.cleanlab_epochs < 0:
            raise ConfigError("[analysis.label_errors] needs cleanlab_folds >= 2 and cleanlab_epochs >= 0")
        analyses = list(ctx.config.analyses)
        fresh = not ctx.run_dir.is_dir()  # a new run (memscope analyze and --resume find the run's folder)
        if fresh and self.name in analyses and ctx.host is not None:
            later = []
            for other in analyses[analyses.index(self.name) + 1 :]:
                cls = ctx.host.registries.analyses.get(other)
                if cls.runs_after_training():
                    later.append(other)
            if later:
                ctx.progress(
                    f"warning: {', '.join(later)} run(s) after label_errors, which will not see their scores; "
                    "list label_errors last"
                )

    # ------------------------------------------------------------------ gathering

    def _signals(self, ctx, train: np.ndarray) -> list[Signal]:
        """Every per-example score of the run, aligned on ``train`` (sorted example ids)."""
        signals: list[Signal] = []

        def aligned(examples: np.ndarray, values: np.ndarray) -> np.ndarray:
            out = np.full(len(train), np.nan)
            pos = np.searchsorted(train, examples)
            ok = (pos < len(train)) & (train[np.minimum(pos, len(train) - 1)] == examples)
            out[pos[ok]] = values[ok]
            out[~np.isfinite(out)] = np.nan
            return out

        def direction(name: str) -> str:
            return self.options.directions.get(name) or DIRECTIONS.get(name, HIGHER)

        dynamics = ctx.read_sql(
            """
            SELECT example, arg_max(loss, epoch)::DOUBLE AS final_loss, avg(loss::DOUBLE) AS mean_loss,
                   arg_max(margin, epoch)::DOUBLE AS final_margin, avg(margin::DOUBLE) AS aum
            FROM example_epochs GROUP BY example
            """
        )
        if dynamics.num_rows:
            ex = dynamics.column("example").to_numpy()
            for metric in ("final_loss", "mean_loss", "final_margin", "aum"):
                name = f"example_epochs.{metric}"
                signals.append(Signal(name, "example_epochs", direction(name), aligned(ex, dynamics.column(metric).to_numpy(zero_copy_only=False))))

        scores = ctx.read_sql(
            f"""
            SELECT analysis, metric, example, avg(value) AS value
            FROM example_scores
            WHERE analysis <> '{self.name}' AND value IS NOT NULL
            GROUP BY analysis, metric, example
            ORDER BY analysis, metric, example
            """
        )
        if scores.num_rows:
            analysis = np.asarray(scores.column("analysis").to_pylist(), dtype=object)
            metric = np.asarray(scores.column("metric").to_pylist(), dtype=object)
            ex = scores.column("example").to_numpy()
            value = scores.column("value").to_numpy(zero_copy_only=False)
            keys = analysis + "." + metric
            for key in dict.fromkeys(keys.tolist()):
                mask = keys == key
                signals.append(Signal(key, key.split(".", 1)[0], direction(key), aligned(ex[mask], value[mask])))

        if not any(s.name == "neuron_flipping.neurons_to_flip" for s in signals):
            flips = ctx.read_sql("SELECT example, flipped, neurons_to_flip FROM neuron_flips")
            if flips.num_rows:
                count = flips.column("neurons_to_flip").to_numpy(zero_copy_only=False).astype(float)
                flipped = flips.column("flipped").to_numpy(zero_copy_only=False).astype(bool)
                ceiling = (np.nanmax(count[flipped]) if flipped.any() else 0.0) + 1.0
                values = np.where(flipped & np.isfinite(count), count, ceiling)
                name = "neuron_flips.neurons_to_flip"
                signal = Signal(name, "neuron_flips", direction(name), aligned(flips.column("example").to_numpy(), values))
                signal.notes.append("unflipped examples count as the most seen + 1")
                signals.append(signal)

        kept: list[Signal] = []
        for signal in signals:
            if signal.name in self.options.exclude:
                continue
            covered = np.isfinite(signal.values)
            if not covered.any():
                continue
            twin = next(
                (
                    k
                    for k in kept
                    if np.array_equal(np.isfinite(k.values), covered)
                    and np.allclose(k.values[covered], signal.values[covered], rtol=1e-6, atol=1e-9)
                ),
                None,
            )
            if twin is not None:
                twin.notes.append(f"same values as {signal.name}")
                continue
            if signal.name not in DIRECTIONS and signal.name not in self.options.directions:
                signal.notes.append("direction assumed 'higher' (set [analysis.label_errors] directions)")
            kept.append(signal)
        return kept

    # ------------------------------------------------------------------ the run

    def run(self, ctx) -> None:
        truth_table = ctx.read_sql("SELECT example, is_noisy FROM examples WHERE split = 'train' ORDER BY example")
        train = truth_table.column("example").to_numpy()
        truth = truth_table.column("is_noisy").to_numpy(zero_copy_only=False).astype(bool)
        n = len(train)
        if n == 0:
            ctx.progress("no training examples in this run")
            return
        signals = self._signals(ctx, train)
        ctx.progress(f"{len(signals)} signals: {', '.join(s.name for s in signals) or '(none)'}")

        combined = self._combined(signals, n)
        rows = [*signals]
        if combined is not None:
            rows.append(combined)
        cleanlab_signal, cleanlab_flags = self._cleanlab(ctx, train)
        rows.append(cleanlab_signal)

        board = self._leaderboard(rows, truth)
        prevalence = float(truth.mean())
        board.append(
            {
                "signal": "random",
                "source": "label_errors",
                "direction": HIGHER,
                "baseline": True,
                "coverage": 1.0,
                "examples": n,
                "k": int(truth.sum()),
                "auroc": 0.5 if 0 < truth.sum() < n else None,
                "average_precision": prevalence if 0 < truth.sum() < n else None,
                "precision_at_k": prevalence if 0 < truth.sum() < n else None,
                "note": "expected value of a random ranking",
            }
        )
        order = sorted(
            range(len(board)),
            key=lambda i: (board[i]["auroc"] is None, -(board[i]["auroc"] or 0.0), -(board[i]["average_precision"] or 0.0), board[i]["signal"]),
        )
        columns = {name: [board[i].get(name) for i in order] for name in self.tables["label_errors_leaderboard"].names if name != "rank"}
        columns["rank"] = list(range(1, len(order) + 1))
        ctx.write("label_errors_leaderboard", columns)

        self._write_scores(ctx, train, combined, cleanlab_signal, cleanlab_flags)
        if not truth.any():
            ctx.progress("the run has no injected label noise: the leaderboard has no metrics, the combined ranks are written")
        for i in order[:5]:
            row = board[i]
            if row["auroc"] is not None:
                ctx.progress(f"{row['signal']}: AUROC {row['auroc']:.3f}, AP {row['average_precision']:.3f}, P@k {row['precision_at_k']:.3f}")

    def _combined(self, signals: list[Signal], n: int) -> Signal | None:
        wanted = set(self.options.combine)
        chosen = [s for s in signals if not s.baseline and (not wanted or s.name in wanted)]
        ranks = []
        for s in chosen:
            covered = np.isfinite(s.values)
            suspicion = s.suspicion()[covered]
            if np.ptp(suspicion) == 0:  # a constant score ranks nothing
                continue
            r = np.full(n, np.nan)
            r[covered] = percentile_ranks(suspicion)
            ranks.append(r)
        if not ranks:
            return None
        stacked = np.vstack(ranks)
        has = np.isfinite(stacked).any(axis=0)
        values = np.full(n, np.nan)
        values[has] = np.nanmean(stacked[:, has], axis=0)
        signal = Signal("combined", "label_errors", HIGHER, values, baseline=True)
        signal.notes.append(f"mean percentile rank over {len(ranks)} signals")
        return signal

    def _leaderboard(self, signals: list[Signal], truth: np.ndarray) -> list[dict]:
        n = len(truth)
        board = []
        for s in signals:
            covered = np.isfinite(s.values)
            row = {
                "signal": s.name,
                "source": s.source,
                "direction": s.direction,
                "baseline": s.baseline,
                "coverage": float(covered.mean()),
                "examples": int(covered.sum()),
                "k": int(truth[covered].sum()),
                "auroc": None,
                "average_precision": None,
                "precision_at_k": None,
            }
            if covered.any():
                row.update(ranking_metrics(s.suspicion()[covered], truth[covered]))
                if row["auroc"] is not None and row["auroc"] < 0.5:
                    s.notes.append(f"ranked the other way round it would score AUROC {1 - row['auroc']:.3f}")
            if covered.sum() < n and covered.any():
                share = truth[covered].mean()
                s.notes.append(f"scored on the {covered.sum()} of {n} examples that have it (a random ranking: AP and P@k {share:.3f})")
            row["note"] = "; ".join(s.notes)
            board.append(row)
        return board

    def _write_scores(self, ctx, train, combined, cleanlab_signal, cleanlab_flags) -> None:
        columns: dict[str, list] = {"analysis": [], "example": [], "metric": [], "value": []}

        def add(metric: str, values: np.ndarray) -> None:
            covered = np.isfinite(values)
            count = int(covered.sum())
            columns["analysis"] += [self.name] * count
            columns["example"] += train[covered].tolist()
            columns["metric"] += [metric] * count
            columns["value"] += values[covered].tolist()

        if combined is not None:
            add("combined_score", combined.values)
            covered = np.isfinite(combined.values)
            rank = np.full(len(train), np.nan)
            order = np.lexsort((train[covered], -combined.values[covered]))  # most suspicious first, ties by id
            ranked = np.empty(covered.sum())
            ranked[order] = np.arange(1, covered.sum() + 1)
            rank[covered] = ranked
            add("combined_rank", rank)
        if np.isfinite(cleanlab_signal.values).any():
            add("cleanlab_label_quality", cleanlab_signal.values)
            add("cleanlab_issue", cleanlab_flags.astype(float))
        ctx.write("example_scores", columns)

    # ------------------------------------------------------------------ cleanlab

    def _cleanlab(self, ctx, train: np.ndarray) -> tuple[Signal, np.ndarray]:
        name = "cleanlab.label_quality"
        empty = Signal(name, "cleanlab", LOWER, np.full(len(train), np.nan), baseline=True)
        if self.options.cleanlab == "off":
            empty.notes.append("off ([analysis.label_errors] cleanlab = 'off')")
            return empty, np.zeros(len(train), dtype=bool)
        try:
            from cleanlab.filter import find_label_issues
            from cleanlab.rank import get_label_quality_scores
        except ImportError:
            empty.notes.append("cleanlab is not installed (pip install cleanlab): no confident-learning baseline")
            ctx.progress("cleanlab is not installed: skipping the confident-learning baseline")
            return empty, np.zeros(len(train), dtype=bool)

        labels = np.asarray(ctx.prepared.y_train_observed, dtype=np.int64)
        ids = np.asarray(ctx.prepared.train_ids)
        try:
            if self.options.cleanlab_model == "logreg":
                probs = self._logreg_probs(ctx, labels)
            else:
                probs = self._model_probs(ctx, labels)
            quality = get_label_quality_scores(labels, probs)
            # n_jobs=1: cleanlab's process pool forks a process that already runs torch threads,
            # which can deadlock
            issues = np.asarray(find_label_issues(labels, probs, n_jobs=1), dtype=bool)
        except Exception as exc:  # a baseline must not sink the leaderboard
            empty.notes.append(f"cleanlab failed: {exc.__class__.__name__}: {exc}")
            return empty, np.zeros(len(train), dtype=bool)
        order = np.searchsorted(train, ids)  # prepared order -> sorted example ids
        values = np.full(len(train), np.nan)
        values[order] = quality
        flags = np.zeros(len(train), dtype=bool)
        flags[order] = issues
        signal = Signal(name, "cleanlab", LOWER, values, baseline=True)
        truth = np.asarray(ctx.prepared.is_noisy, dtype=bool)
        what = f"{self.options.cleanlab_folds}-fold " + (
            "logistic regression on pixels" if self.options.cleanlab_model == "logreg" else f"{ctx.config.model.name}, {self._fold_epochs(ctx)} epochs"
        )
        flagged = int(issues.sum())
        precision = float(truth[issues].mean()) if flagged else float("nan")
        recall = float(issues[truth].mean()) if truth.any() else float("nan")
        signal.notes.append(f"out-of-sample probabilities: {what}; find_label_issues flags {flagged} (precision {precision:.3f}, recall {recall:.3f})")
        return signal, flags

    def _fold_epochs(self, ctx) -> int:
        return self.options.cleanlab_epochs or ctx.config.train.epochs

    def _folds(self, ctx, labels: np.ndarray) -> list[np.ndarray]:
        from sklearn.model_selection import KFold, StratifiedKFold

        k = self.options.cleanlab_folds
        seed = int(ctx.rng("label_errors_folds").integers(2**31 - 1))
        counts = np.bincount(labels)
        splitter = StratifiedKFold(k, shuffle=True, random_state=seed) if counts[counts > 0].min() >= k else KFold(k, shuffle=True, random_state=seed)
        return [held for _, held in splitter.split(np.zeros(len(labels)), labels)]

    def _logreg_probs(self, ctx, labels: np.ndarray) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        x = ctx.data.x_train.reshape(len(labels), -1).float().cpu().numpy()
        k = ctx.data.num_classes
        probs = np.zeros((len(labels), k))
        for f, held in enumerate(self._folds(ctx, labels)):
            fit = np.setdiff1d(np.arange(len(labels)), held)
            clf = LogisticRegression(max_iter=300, C=0.1).fit(x[fit], labels[fit])
            probs[np.ix_(held, clf.classes_)] = clf.predict_proba(x[held])
            ctx.progress(f"cleanlab: fold {f + 1} fitted")
        return probs

    def _model_probs(self, ctx, labels: np.ndarray) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from memscope.train.schedule import lr_multiplier

        cfg = ctx.config.train
        epochs = self._fold_epochs(ctx)
        x, y = ctx.data.x_train, ctx.data.y_train
        probs = np.zeros((len(labels), ctx.data.num_classes))
        for f, held in enumerate(self._folds(ctx, labels)):
            fit = torch.as_tensor(np.setdiff1d(np.arange(len(labels)), held), device=ctx.device)
            model = ctx.build_model()
            optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
            steps = math.ceil(len(fit) / cfg.batch_size)
            total = steps * epochs
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_multiplier(cfg.schedule, s, total, cfg.warmup_fraction))
            generator = ctx.torch_generator("label_errors_cleanlab", f)
            model.train()
            for _ in range(epochs):
                order = fit[torch.randperm(len(fit), generator=generator).to(ctx.device)]
                for b in range(steps):
                    batch = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
                    if len(batch) < 2:  # batch norm needs two examples
                        continue
                    with ctx.autocast():
                        logits = model(x[batch])
                    loss = F.cross_entropy(logits.float(), y[batch])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    scheduler.step()
            model.eval()
            held_t = torch.as_tensor(held, device=ctx.device)
            with torch.no_grad():
                for start in range(0, len(held), cfg.eval_batch_size):
                    part = held_t[start : start + cfg.eval_batch_size]
                    with ctx.autocast():
                        logits = model(x[part])
                    probs[held[start : start + cfg.eval_batch_size]] = torch.softmax(logits.float(), 1).cpu().numpy()
            ctx.progress(f"cleanlab: fold {f + 1}/{self.options.cleanlab_folds} trained")
        return probs


@hookimpl
def register_analyses(register):
    register(LabelErrors)
