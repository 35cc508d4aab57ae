"""edigate: carries MedCom messages between Danish hospitals and municipalities and runs the EDI outage procedure."""

__version__ = "0.1.0"
