"""Journeys: sequences and broadcasts (definitions, enrolment, exits)."""
