"""One module per rendered file (or family of files). Each exports pure ``render*`` functions
``RenderInputs -> Rendered`` and a ``PROVENANCE*`` table; ``lxcfs_model.files`` lists them."""
