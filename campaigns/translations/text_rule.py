"""Japanese strings of the text rule (campaigns.text) and of the failures the scheduler settles on one
broadcast, enrolment, A/B test or import (campaigns/scheduler.py, experiments/decision.py, leads/imports.py)."""

JA = {
    # campaigns.text: why a value is refused (views translate the field name they pass as %(what)s)
    "%(what)s contains invalid Unicode (a broken character) at character %(position)s":
        "%(what)sの%(position)s文字目に壊れた文字（不正な Unicode）が含まれています",
    "%(what)s must be a single line (it contains a line break or tab at character %(position)s)":
        "%(what)sは1行で入力してください（%(position)s文字目に改行またはタブがあります）",
    "%(what)s contains a control character (%(code)s) at character %(position)s":
        "%(what)sの%(position)s文字目に制御文字（%(code)s）が含まれています",
    "%(what)s is too long (%(length)s characters, at most %(max)s)":
        "%(what)sが長すぎます（%(length)s 文字。上限 %(max)s 文字）",
    "%(what)s is nested too deeply (at most %(max)s levels)": "%(what)sの入れ子が深すぎます（%(max)s 段まで）",
    "The form was not saved: %(problem)s. Go back, correct it and try again.":
        "保存されませんでした: %(problem)s。前の画面に戻って修正し、もう一度お試しください。",
    # broadcasts the scheduler could not plan
    "This broadcast was not sent.": "この一斉配信は送信されませんでした。",
    "Its segment “%(segment)s” cannot be used: %(problem)s. Fix the segment, then schedule the broadcast again.":
        "セグメント「%(segment)s」を使えません: %(problem)s。セグメントを修正してから、もう一度配信を予約してください。",
    "It could not be prepared because of an unexpected error, which has been logged for your administrator. "
    "Nothing was sent; schedule it again once the error is fixed.":
        "予期しないエラーのため配信を準備できませんでした（エラーは管理者向けに記録されています）。"
        "1通も送信されていません。エラーの解消後に、もう一度配信を予約してください。",
    "one of the conditions holds a broken character (invalid Unicode) at %(where)s":
        "条件のひとつ（%(where)s）に壊れた文字（不正な Unicode）が含まれています",
    "one of the conditions holds text that cannot be used (%(problem)s)":
        "条件のひとつに使えない文字が含まれています（%(problem)s）",
    "The audience cannot be counted: %(problem)s": "配信対象の人数を数えられません: %(problem)s",
    # enrolments
    "failed: the next mail could not be planned (an unexpected error, logged for the administrator)":
        "失敗: 次のメールを予定できませんでした（予期しないエラー。管理者向けに記録されています）",
    # A/B tests
    "Stopped by an error": "エラーで停止",
    "The test stopped because of an error; the reason is shown above.":
        "エラーのためテストは停止しました。理由は上に表示しています。",
    "The test stopped because of an unexpected error, which has been logged for your administrator: no winner "
    "was chosen and the rest of the audience was not sent.":
        "予期しないエラーのためテストは停止しました（エラーは管理者向けに記録されています）。"
        "勝者は選ばれず、残りの配信対象には送信されていません。",
    "The test stopped because of an unexpected error, which has been logged for your administrator: the winner "
    "was chosen but the rest of the audience was not sent.":
        "予期しないエラーのためテストは停止しました（エラーは管理者向けに記録されています）。"
        "勝者は選ばれましたが、残りの配信対象には送信されていません。",
    "The test stopped because of an unexpected error, which has been logged for your administrator: no winner "
    "was chosen and the step sends its own template again.":
        "予期しないエラーのためテストは停止しました（エラーは管理者向けに記録されています）。"
        "勝者は選ばれず、このステップは元のテンプレートで送信を続けます。",
    # imports
    "The import stopped and could not be restarted because of an unexpected error, which has been logged for "
    "your administrator; the rows imported so far are kept.":
        "予期しないエラーのためインポートが停止し、再開できませんでした（エラーは管理者向けに記録されています）。"
        "ここまでに取り込んだ行はそのまま残ります。",
}
