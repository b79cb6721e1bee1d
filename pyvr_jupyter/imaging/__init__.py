"""Pictures, below the widget layer and never importing Jupyter: frame encoding (``encoding``:
JPEG previews, PNG still frames, with Pillow), the overlays drawn onto exported pictures
(``overlays``: axes, box outline, scale bar, colour bar) and the slices' display colours
(``display_colors``: a uint8 table per colormap). ``VolumeView`` and ``SliceView`` use them; so
can any script that saves a rendered picture."""
