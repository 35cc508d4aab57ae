from edigate.cli import run

run()
