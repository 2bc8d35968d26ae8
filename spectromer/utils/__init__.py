"""Small general helpers shared by every layer: atomic file writes (:mod:`.atomic`) and
compact wavelength-grid descriptions (:mod:`.grid`). Nothing here imports the rest of
spectromer."""
