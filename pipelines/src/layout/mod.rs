//! Layout geometry and who is shown where: Pexip layouts, active speaker selection, encoder sharing.
