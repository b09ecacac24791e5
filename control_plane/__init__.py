"""splitline.control_plane (see DESIGN.md)."""
