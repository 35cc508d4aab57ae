"""Shared test harness: the real service as a subprocess, a real SMTP server, real HTTP receivers."""
