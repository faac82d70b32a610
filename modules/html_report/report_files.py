"""``<job>/report_files/``: what the job report derives from the job folder (thumbnails of its
images, compressed audio of its examples), the one place the report writes besides
``report.html``. A file is made again only when its source is newer; files no page refers to
any more are removed when the page is written.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

FOLDER = "report_files"
THUMBNAIL_WIDTH = 360  # px: four to a row on a laptop screen, legible axes when clicked


class ReportFiles:
    """The job's ``report_files/`` folder and the files this build of the page uses."""

    def __init__(self, job_dir: Path):
        self.job_dir = Path(job_dir)
        self.folder = self.job_dir / FOLDER
        self.used: set[Path] = set()

    def derived_path(self, source: Path, kind: str, suffix: str) -> Path:
        """Where a file derived from ``source`` (a path in the job folder) goes: one flat name
        per source, so two sources never share one."""
        relative = Path(os.path.relpath(source, self.job_dir)).with_suffix("").as_posix()
        return self.named_path(kind, relative.replace("/", "__"), suffix)

    def named_path(self, kind: str, name: str, suffix: str) -> Path:
        """``report_files/<kind>/<name><suffix>``, the name made safe for a URL."""
        return self.folder / kind / (re.sub(r"[^A-Za-z0-9._-]+", "_", name) + suffix)

    def fresh(self, derived: Path, *sources: Path) -> bool:
        """Whether ``derived`` exists and is newer than every existing source."""
        if not derived.is_file():
            return False
        made = derived.stat().st_mtime
        return all(made >= source.stat().st_mtime for source in sources if source.is_file())

    def use(self, path: Path) -> Path:
        self.used.add(Path(path).resolve())
        return path

    def thumbnail(self, image: Path) -> Path | None:
        """A JPEG of ``image`` at most :data:`THUMBNAIL_WIDTH` wide (the image itself when it
        is that small already); None when the image cannot be read."""
        from PIL import Image, UnidentifiedImageError

        target = self.derived_path(image, "thumbnails", ".jpg")
        if self.fresh(target, image):
            return self.use(target)
        try:
            with Image.open(image) as opened:
                if opened.width <= THUMBNAIL_WIDTH:
                    opened.verify()
                    return image
                picture = opened.convert("RGB")
        except (OSError, UnidentifiedImageError, SyntaxError):
            return None
        picture.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 4), Image.Resampling.LANCZOS)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.stem}.{os.getpid()}.tmp.jpg")
        picture.save(temporary, "JPEG", quality=82, optimize=True)
        os.replace(temporary, target)
        return self.use(target)

    def prune(self) -> int:
        """Remove the files of ``report_files/`` this build did not use; returns how many."""
        if not self.folder.is_dir():
            return 0
        removed = 0
        for path in sorted(self.folder.rglob("*"), reverse=True):
            if path.is_file() and path.resolve() not in self.used:
                path.unlink()
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        return removed

    def size(self) -> int:
        """Bytes in ``report_files/``."""
        if not self.folder.is_dir():
            return 0
        return sum(path.stat().st_size for path in self.folder.rglob("*") if path.is_file())
