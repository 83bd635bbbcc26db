"""baw-gateway: read IBM Business Automation Workflow safely from LLM hosts."""

__version__ = "0.1.0"
