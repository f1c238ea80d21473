"""Japanese of the event browser, the test event, offline activities on the contact page and the CSV event
import (campaigns/views/events.py, templates/ui/events/, campaigns/leads/activities.py and event_import.py).
Folded into the catalog by `scripts/i18n fold`."""

JA = {
    # navigation and the event browser
    "Events": "イベント",
    "Every event name Nurture has received: from the API, forms, imports, activities logged on contact pages "
    "and test events. Sequences, journeys, scoring rules and segments react to these names.":
        "Nurtureが受け取ったすべてのイベント名です（API、フォーム、インポート、コンタクト画面で記録した活動、テストイベント）。"
        "ステップメール、ジャーニー、スコアリングルール、セグメントはこの名前で反応します。",
    "Event names": "イベント名一覧",
    "Last seen": "最終受信",
    "Times received": "受信数",
    "Recent sources": "最近の発生元",
    "Example properties": "プロパティの例",
    "Test": "テスト",
    "No events yet. Events arrive through the API, forms and CSV imports, or send a test event above.":
        "イベントはまだありません。API、フォーム、CSVインポートで届きます。上のフォームからテストイベントを送ることもできます。",
    # sources
    "API": "API",
    "Tracking": "トラッキング",
    "Bounce": "バウンス",
    "Logged by hand": "手動記録",
    "CSV import": "CSVインポート",
    "Test event": "テストイベント",
    "manual": "手動記録",
    # the test event
    "Send a test event": "テストイベントを送信",
    "Records the event for one contact, as the API would: sequences it triggers start now, journeys within "
    "seconds. It stays in the contact's timeline.":
        "APIと同じように、1人のコンタクトにイベントを記録します。このイベントで開始するステップメールはすぐに、"
        "ジャーニーは数秒以内に始まります。記録はコンタクトのタイムラインに残ります。",
    "Contact (search by address or name)": "コンタクト（メールアドレスまたは氏名で検索）",
    "Properties (JSON, optional)": "プロパティ（JSON、任意）",
    "Send test event": "テストイベントを送信",
    "Choose a contact.": "コンタクトを選んでください。",
    "No contact has the address %(email)s.": "%(email)s のコンタクトは登録されていません。",
    "Properties must be a JSON object, such as {\"plan\": \"pro\"}.":
        "プロパティは {\"plan\": \"pro\"} のようなJSONオブジェクトで入力してください。",
    "Choose or type the event's name.": "イベント名を選ぶか入力してください。",
    "Test event %(name)s recorded for %(email)s: sequences it starts have begun, journeys follow within seconds.":
        "%(email)s にテストイベント「%(name)s」を記録しました。このイベントで開始するステップメールは始まっています。"
        "ジャーニーは数秒以内に続きます。",
    # offline activities on the contact page
    "Log an activity": "活動を記録",
    "A seminar, a booth visit, a call or a meeting: it becomes an event, so scoring, segments, sequences and "
    "journeys react to it.":
        "セミナー参加、展示会ブース来訪、電話、商談などを記録します。イベントとして保存され、スコアリング、セグメント、"
        "ステップメール、ジャーニーが反応します。",
    "Activity": "活動",
    "Seminar attended": "セミナー参加",
    "Trade-show booth visit": "展示会ブース来訪",
    "Phone call": "電話",
    "Meeting": "商談・打ち合わせ",
    "Other activity": "その他の活動",
    "Log activity": "記録する",
    "Activity logged.": "活動を記録しました。",
    "Enter the date and time of the activity.": "活動の日時を入力してください。",
    "Choose what kind of activity it was.": "活動の種類を選んでください。",
    "The activity's date is in the future: log it once it has happened.":
        "活動の日時が未来になっています。実施後に記録してください。",
    "The note is too long (at most 2,000 characters).": "メモが長すぎます（2,000文字まで）。",
    "seminar_attended": "セミナー参加",
    "booth_visited": "展示会ブース来訪",
    "phone_call": "電話",
    "meeting_held": "商談・打ち合わせ",
    "offline_activity": "その他の活動",
    # the CSV event import
    "Import events from CSV": "CSVからイベントをインポート",
    "A webinar tool's attendee list or a trade show's scanned badges: each row becomes one event about the "
    "contact with that address. Unknown addresses can become new contacts.":
        "ウェビナーツールの参加者リストや展示会の名刺スキャンデータなど、1行が1件のイベントとして、そのメールアドレスの"
        "コンタクトに記録されます。未登録のアドレスは新しいコンタクトとして登録できます。",
    "Back to events": "イベント一覧に戻る",
    "e.g. webinar_attended": "例: webinar_attended",
    "Pick a name from the list or type a new one.": "一覧から選ぶか、新しい名前を入力してください。",
    "Email column": "メールアドレスの列",
    "Name column (new contacts)": "氏名の列（新規コンタクト用）",
    "Company column (new contacts)": "会社名の列（新規コンタクト用）",
    "none": "なし",
    "When it happened": "実施日時",
    "The same date for every row": "すべての行で同じ日時",
    "A date column in the file": "ファイル内の日時の列",
    "Date and time": "日時",
    "Events more than 24 hours old are kept for scoring, segments and reports but start no sequence.":
        "24時間より前のイベントはスコアリング、セグメント、レポートに使われますが、ステップメールは開始しません。",
    "Create contacts for addresses not in Nurture yet": "未登録のアドレスはコンタクトとして新規登録する",
    "Event import": "イベントのインポート",
    "events recorded": "記録したイベント",
    "existing contacts": "既存のコンタクト",
    "already recorded": "記録済み（スキップ）",
    "The import stopped because of an unexpected error, which has been logged for your administrator; the "
    "events recorded so far are kept.":
        "予期しないエラーのためインポートが停止しました。エラーは管理者向けに記録されています。それまでに記録したイベントは残ります。",
    "Choose the column that holds the date.": "日時が入っている列を選んでください。",
    "Enter the date and time of the event.": "イベントの日時を入力してください。",
    "The event's date is in the future.": "イベントの日時が未来になっています。",
    "the date is missing": "日時が空です",
    "the date is in the future": "日時が未来になっています",
    "no contact has this address": "このアドレスのコンタクトは登録されていません",
}
