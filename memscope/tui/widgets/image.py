"""An image drawn in the terminal with half blocks: two pixel rows per text row."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widget import Widget


def to_rgb(image: Any) -> Any:
    """(H, W, C) uint8 or float in [0, 1] -> (H, W, 3) uint8."""
    import numpy as np

    img = np.asarray(image)
    if img.ndim == 2:
        img = img[..., None]
    if img.dtype != np.uint8:
        img = (np.clip(img.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    elif img.shape[-1] > 3:
        img = img[..., :3]
    return img


def half_blocks(image: Any, max_width: int = 32, max_height: int = 16) -> Text:
    """Scale ``image`` by an integer factor to fit ``max_width`` x ``max_height`` cells and draw it."""
    import numpy as np

    img = to_rgb(image)
    h, w = img.shape[:2]
    scale = max(1, min(max_width // max(w, 1), (2 * max_height) // max(h, 1)))
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    elif w > max_width or h > 2 * max_height:  # shrink by striding
        step = max(-(-w // max_width), -(-h // (2 * max_height)))
        img = img[::step, ::step]
    h, w = img.shape[:2]
    if h % 2:
        img = np.concatenate([img, np.zeros((1, w, 3), dtype=np.uint8)], axis=0)
        h += 1
    text = Text()
    for y in range(0, h, 2):
        top, bottom = img[y], img[y + 1]
        for x in range(w):
            t, b = top[x], bottom[x]
            text.append("▀", Style(color=f"rgb({t[0]},{t[1]},{t[2]})", bgcolor=f"rgb({b[0]},{b[1]},{b[2]})"))
        if y + 2 < h:
            text.append("\n")
    return text


class ImageView(Widget):
    """Shows an image (numpy array) or a message when there is none."""

    DEFAULT_CSS = """
    ImageView { width: auto; height: auto; min-width: 16; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._text: Text = Text("loading image…", style="italic")

    def show(self, image: Any | None, message: str = "") -> None:
        self._text = half_blocks(image) if image is not None else Text(message or "no image", style="italic")
        self.refresh(layout=True)

    def get_content_width(self, container, viewport) -> int:
        return max((len(line) for line in self._text.plain.splitlines()), default=1)

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(1, len(self._text.plain.splitlines()))

    def render(self) -> Text:
        return self._text
