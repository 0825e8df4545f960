"""The Stripe connector (SPEC §6): pure mapping, its memory, file commands, webhook receiver."""
