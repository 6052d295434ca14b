"""The demo decade: a city's decisions generated from its published figures, loaded, projected
and verified."""
