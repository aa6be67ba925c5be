"""Text rendering shared by kiosk, display and printer: shaped traditional Mongolian and CJK lines."""

from hallq.text.render import FontMissing, bilingual_block, font_path, render_line, render_mongolian_vertical

__all__ = ["FontMissing", "bilingual_block", "font_path", "render_line", "render_mongolian_vertical"]
