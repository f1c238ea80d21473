"""Japanese of the journey pickers of scoring triggers and the form builder (issue 17: triggers and forms name
journeys, migration 0022). A journey is a シナリオ, a sequence a ステップメール, as elsewhere."""

JA = {
    "Start a journey": "シナリオを開始",
    "Leave a journey": "シナリオから外す",
    "Journey to start or leave": "開始する（または外す）シナリオ",
    "Live: contacts start at once": "公開中：すぐに開始します",
    "Not live: nobody starts until it is published or resumed": "未公開・停止中：公開または再開するまで誰も開始しません",
    "sequence, %(status)s": "ステップメール・%(status)s",
    "Only a live journey takes contacts; its own re-entry setting decides whether someone who walked it before "
    "starts again.": "コンタクトが開始できるのは公開中のシナリオだけです。以前に通ったコンタクトがもう一度開始するかどうかは、"
                     "シナリオの再参加の設定に従います。",
    "When a contact enters a stage or reaches a score: start a journey, leave one, notify sales by email, or call "
    "a signed webhook.": "コンタクトがステージに入ったとき、またはスコアに達したときに、シナリオの開始・離脱、営業へのメール通知、"
                         "署名付きWebhookの呼び出しのいずれかを行います。",
    "not live: nobody starts": "未公開：誰も開始しません",
    "(journey deleted)": "（シナリオは削除されました）",
    "Start these journeys": "開始するシナリオ",
    "already starts on this form by its own entry: contacts start once": "このフォームが開始条件に設定済み：開始は1回だけです",
    "nobody starts until it is published or resumed": "公開または再開するまで誰も開始しません",
    "Create a journey": "シナリオを作成",
    "Journeys whose entry is this form, and sequences whose trigger events include form_submitted, start as well. "
    "With double opt-in, only once the address is confirmed.": "このフォームを開始条件にしたシナリオと、開始イベントに "
    "form_submitted を含むステップメールも開始します。ダブルオプトインの場合は、アドレスの確認後に開始します。",
    "choose the journey": "シナリオを選んでください",
    "the chosen journey or sequence does not exist": "選んだシナリオまたはステップメールは存在しません",
    "unknown journey or sequence": "存在しないシナリオまたはステップメールです",
}
