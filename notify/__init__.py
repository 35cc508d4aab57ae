"""The EDI outage procedure of Region Syddanmark ("Meldeprocedure sygehus-kommune ved EDI-nedbrud/planlagt
nedlukning"). Depends on nothing in `edigate`; storage and the clock are handed in by `edigate.app`."""
