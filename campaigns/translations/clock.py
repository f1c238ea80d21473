"""Japanese of the one-clock work: every time shown in the account's zone, labelled (the A/B results page,
the hand-over deliveries, imports, the suppression list, scoring)."""

JA = {
    "Unique human opens (or clicks) per hour, per variant. Times in %(zone)s.":
        "パターンごとの1時間あたりの人によるユニーク開封（またはクリック）。時刻は%(zone)sです。",
}
