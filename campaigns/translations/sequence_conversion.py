"""Japanese of the sequence-to-journey conversion (campaigns/views/sequences.py, templates/ui/sequences/): a
converted sequence is a シナリオ now, as journeys are named on the canvas."""

JA = {
    "Runs as a journey": "シナリオとして実行中",
    "This sequence runs as a journey now: edit it, pause it and enrol contacts here.":
        "このステップメールはシナリオとして実行されています。編集・一時停止・コンタクトの登録はこちらで行ってください。",
    "this sequence runs as a journey now; change its status on the journey":
        "このステップメールはシナリオとして実行されています。ステータスはシナリオで変更してください",
    "this sequence runs as a journey now; edit the journey":
        "このステップメールはシナリオとして実行されています。シナリオを編集してください",
}
