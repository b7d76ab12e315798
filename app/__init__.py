"""PatchDesk: agentless patch management for small IT shops and MSP technicians."""

__version__ = "0.1.0"
APP_NAME = "PatchDesk"
