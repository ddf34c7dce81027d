"""A training progress bar: words done, words/s, ETA, learning rate and loss.

``Word2Vec.train(progress=True)`` and the ``hsmcy`` command use :class:`TrainingProgress`.
It draws with `tqdm <https://tqdm.github.io>`_ when tqdm is installed (it handles
notebooks and odd terminals well) and otherwise with a small built-in one-line bar,
so a progress bar never needs an extra install.  tqdm stays optional
(``pip install "hsmcy[progress]"``).
"""
from __future__ import annotations

import io
import os
import sys
import time

__all__ = ["TrainingProgress", "format_count", "format_duration"]


def format_count(value):
    """``1234567 -> '1.23M'``: a count with an SI suffix, three significant digits.

    Parameters
    ----------
    value : float
        The count.
    """
    value = float(value)
    for suffix, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else str(int(value))


def format_duration(seconds):
    """``75 -> '01:15'``, ``3700 -> '1:01:40'``.

    Parameters
    ----------
    seconds : float
        The duration; negative counts as zero.
    """
    seconds = int(max(seconds, 0) + 0.5)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class TrainingProgress:
    """Progress of a training run, in words, drawn on a terminal.

    Parameters
    ----------
    total_words : int
        Words to read over the whole run (corpus words x epochs): the 100% mark.
    stream : file, optional
        Where to draw; default ``sys.stderr``.
    backend : {"auto", "tqdm", "plain"}, default "auto"
        ``"auto"`` uses tqdm when it can be imported, else the built-in bar.
    min_interval : float, default 0.1
        Seconds between redraws of the built-in bar.

    Examples
    --------
    >>> import io
    >>> bar = TrainingProgress(1000, stream=io.StringIO(), backend="plain")
    >>> bar.update(500, alpha=0.0125, loss=7.5)
    >>> bar.words_done
    500
    >>> bar.close()
    """

    def __init__(self, total_words, stream=None, backend="auto", min_interval=0.1):
        if backend not in ("auto", "tqdm", "plain"):
            raise ValueError(f"backend must be 'auto', 'tqdm' or 'plain', got {backend!r}")
        self.total_words = max(int(total_words), 1)
        self.stream = sys.stderr if stream is None else stream
        self.min_interval = float(min_interval)
        self.words_done = 0
        self.alpha = None
        self.loss = None
        self.started = time.perf_counter()
        self._last_draw = 0.0
        self._closed = False
        self._tqdm = None
        if backend in ("auto", "tqdm"):
            try:
                from tqdm.auto import tqdm
            except ImportError:
                if backend == "tqdm":
                    raise ImportError('backend="tqdm" needs tqdm: pip install "hsmcy[progress]"') from None
            else:
                # A terminal that reports no width (a bare pty) would get an empty bar.
                ncols = None if self._terminal_columns() else 100
                self._tqdm = tqdm(total=self.total_words, unit="word", unit_scale=True, desc="training",
                                  file=self.stream, dynamic_ncols=ncols is None, ncols=ncols)

    @property
    def backend(self):
        """``"tqdm"`` or ``"plain"``: what draws the bar."""
        return "tqdm" if self._tqdm is not None else "plain"

    def update(self, words_done, alpha=None, loss=None):
        """Move the bar to ``words_done`` words read so far in the run.

        Parameters
        ----------
        words_done : int
            Words read since the start of the run (not an increment).
        alpha : float, optional
            Current learning rate.
        loss : float, optional
            Current mean loss per trained word (shown only when given).
        """
        if self._closed:
            return
        words_done = min(max(int(words_done), self.words_done), self.total_words)
        step = words_done - self.words_done
        self.words_done = words_done
        self.alpha, self.loss = alpha, loss
        if self._tqdm is not None:
            postfix = {}
            if alpha is not None:
                postfix["alpha"] = f"{alpha:.5f}"
            if loss is not None:
                postfix["loss"] = f"{loss:.4g}"
            self._tqdm.set_postfix(postfix, refresh=False)
            self._tqdm.update(step)
            return
        now = time.perf_counter()
        if now - self._last_draw >= self.min_interval or words_done >= self.total_words:
            self._last_draw = now
            self._draw(now)

    def line(self, now=None):
        """The built-in bar as one line of text.

        Parameters
        ----------
        now : float, optional
            ``time.perf_counter()`` value to compute the rate and ETA at (default: now).
        """
        elapsed = (time.perf_counter() if now is None else now) - self.started
        fraction = self.words_done / self.total_words
        rate = self.words_done / elapsed if elapsed > 0 else 0.0
        eta = (self.total_words - self.words_done) / rate if rate > 0 else 0.0
        width = 20
        filled = int(round(fraction * width))
        bar = "#" * filled + "-" * (width - filled)
        parts = [f"training {100 * fraction:3.0f}% |{bar}| {format_count(self.words_done)}/"
                 f"{format_count(self.total_words)} words", f"{format_count(rate)} words/s",
                 f"{format_duration(elapsed)}<{format_duration(eta)}"]
        if self.alpha is not None:
            parts.append(f"alpha {self.alpha:.5f}")
        if self.loss is not None:
            parts.append(f"loss {self.loss:.4g}")
        return ", ".join(parts)

    def _draw(self, now=None):
        text = self.line(now)
        if self._is_tty():  # overwrite the line in place, without wrapping
            columns = max((self._terminal_columns() or 100) - 1, 20)
            text = text[:columns].ljust(columns)
        self.stream.write("\r" + text)
        self.stream.flush()

    def _terminal_columns(self):
        """Width of the terminal behind the stream; 0 when unknown."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            return 0

    def _is_tty(self):
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def close(self):
        """Finish the bar (drawn at its final state) and end its line."""
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            self._tqdm.close()
            return
        self._draw()
        self.stream.write("\n")
        self.stream.flush()
