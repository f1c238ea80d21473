"""Japanese of the enrol pickers that offer journeys (campaigns.journeys.walk_entry: scoring triggers, the
contact list's bulk enrol, the form builder). A journey is a シナリオ, a sequence a ステップメール, as elsewhere."""

JA = {
    "journey, %(status)s": "シナリオ・%(status)s",
    "live": "公開中",
    "Sequence or journey (enrol / exit)": "ステップメールまたはシナリオ（登録・除外）",
    "Journey or sequence": "シナリオまたはステップメール",
    "Choose a journey or sequence…": "シナリオまたはステップメールを選択…",
    "Choose a sequence or a journey.": "ステップメールまたはシナリオを選んでください。",
    "Only a live journey can take new contacts.": "新しいコンタクトを登録できるのは公開中のシナリオだけです。",
    "Enrol in a journey or sequence": "シナリオまたはステップメールに登録",
    "Enrol in these journeys or sequences": "登録するシナリオ・ステップメール",
}
