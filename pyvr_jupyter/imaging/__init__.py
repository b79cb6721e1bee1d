"""Pillow-only imaging, below the widget layer and never importing Jupyter: frame encoding
(``encoding``: JPEG previews, PNG still frames) and the overlays drawn onto exported pictures
(``overlays``: axes, box outline, scale bar, colour bar). ``VolumeView`` and ``SliceView`` use
them; so can any script that saves a rendered picture."""
