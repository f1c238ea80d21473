"""Japanese strings of delete, archive, restore and duplicate added after the fold into messages.po."""

JA = {
    "The journey “%(name)s”": "シナリオ「%(name)s」",
}
