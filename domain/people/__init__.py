"""People: identity numbers and the keyed references they are looked up by, personal data sealed
in events, and each person's index of the cases they hold."""
