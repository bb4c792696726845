"""Render resources/icons/app.svg into the application icons each platform wants:
app.png (256 px, Linux and the window icon), app.ico (Windows), app.icns (macOS).

    QT_QPA_PLATFORM=offscreen python tests/tools/make_app_icons.py
"""

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"


def render(size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    QSvgRenderer(str(ICONS / "app.svg")).render(painter)
    painter.end()
    return image


def main() -> None:
    QGuiApplication([])
    image = render(256)
    for name, fmt in (("app.png", b"png"), ("app.ico", b"ico"), ("app.icns", b"icns")):
        writer = QImageWriter(str(ICONS / name), fmt)
        if not writer.write(image):
            raise SystemExit(f"{name}: {writer.errorString()}")
        print(ICONS / name)


if __name__ == "__main__":
    main()
