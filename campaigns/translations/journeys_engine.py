"""Japanese of what the journey engine writes for people to read: the cause of points a journey's add_score
node gave (the contact's timeline and score history: ジャーニー「名前」 › ノード)."""

JA = {
    "journey %(cause)s": "ジャーニー %(cause)s",
}
