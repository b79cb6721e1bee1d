"""Tools built on the renderer."""
