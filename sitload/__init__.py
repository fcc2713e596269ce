"""sitload: watches how a person sits and prompts breaks, weight shifts and stretches."""

__version__ = "0.1.0"
