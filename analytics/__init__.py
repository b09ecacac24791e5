"""splitline.analytics (see DESIGN.md)."""
