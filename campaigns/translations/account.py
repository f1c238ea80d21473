"""Japanese strings of the account page (password, sessions, API keys) and of the login throttle."""
JA = {
    # login throttle
    "Too many attempts. Try again in %(n)s seconds.": "試行回数が多すぎます。%(n)s秒後にもう一度お試しください。",
    "Too many attempts. Try again in %(n)s minutes.": "試行回数が多すぎます。%(n)s分後にもう一度お試しください。",
    # the account page
    "My account": "マイアカウント",
    "Logged in as": "ログイン中のアカウント:",
    "Change password": "パスワードの変更",
    "Current password": "現在のパスワード",
    "New password": "新しいパスワード",
    "New password again": "新しいパスワード（確認）",
    "Use between 8 and 1000 characters.": "8〜1000文字で入力してください。",
    "The two new passwords differ.": "確認用のパスワードが一致しません。",
    "This is not your current password.": "現在のパスワードが正しくありません。",
    "password must have at most 1000 characters": "パスワードは1000文字以内にしてください",
    "At least 8 characters. A few unrelated words make a password that is long and easy to remember.":
        "8文字以上。関係のない単語をいくつか組み合わせると、長くて覚えやすいパスワードになります。",
    "Changing it logs out every other session of your account; this one stays logged in.":
        "変更すると、このブラウザ以外のすべてのセッションがログアウトされます（このブラウザはログインしたままです）。",
    "Password changed. Every other session has been logged out.":
        "パスワードを変更しました。ほかのすべてのセッションはログアウトされました。",
    "Sessions": "セッション",
    "Logged in on %(n)s browsers or devices, this one included.": "このブラウザを含め、%(n)s台のブラウザ・端末でログイン中です。",
    "Logged in on this browser only.": "ログイン中なのはこのブラウザだけです。",
    "A session ends after %(idle)s without use, and %(lifetime)s after logging in at the latest.":
        "セッションは、%(idle)s操作がないと終了します。ログインから%(lifetime)s経つと必ず終了します。",
    "%(n)s hours": "%(n)s時間",
    "%(n)s minutes": "%(n)s分",
    "Logged in on a shared computer, or lost a phone? Log out everywhere: every session ends, this one too, "
    "and you log in again with your password.":
        "共用のパソコンでログインした、スマートフォンをなくした、といった場合は「すべての端末からログアウト」してください。"
        "このブラウザを含むすべてのセッションが終了し、パスワードで再度ログインすることになります。",
    "Log out everywhere": "すべての端末からログアウト",
    "You have been logged out everywhere, in this browser too.": "このブラウザを含む、すべての端末からログアウトしました。",
    # API keys
    "API key": "APIキー",
    "Keys let your other systems (CRM, website, scripts) use the JSON API. They belong to the whole account, "
    "not only to you. Revoke a key that is no longer used or may have leaked.":
        "APIキーを使うと、ほかのシステム（CRM、Webサイト、スクリプト）から JSON API を利用できます。"
        "キーはあなた個人ではなくアカウント全体のものです。使わなくなったキーや漏れたおそれのあるキーは無効にしてください。",
    "Key": "キー",
    "Key name": "キーの名前",
    "At most 200 characters.": "200文字以内で入力してください。",
    "e.g. CRM sync": "例: CRM連携",
    "Create key": "キーを作成",
    "Last used": "最終使用",
    "Never": "未使用",
    "Revoked": "無効",
    "Revoke": "無効にする",
    "Last use is updated at most every few minutes.": "最終使用日時は数分おきに更新されます。",
    "No API keys yet.": "APIキーはまだありません。",
    "New API key: %(name)s": "新しいAPIキー: %(name)s",
    "Copy this key now. It is shown only once: Nurture keeps only a fingerprint of it.":
        "このキーを今すぐコピーしてください。表示されるのはこの一度だけです（Nurture にはキーの指紋しか保存されません）。",
    "Send it with each request to the JSON API, in this header:": "JSON API へのリクエストごとに、次のヘッダーで送ってください:",
    "Revoke API key": "APIキーを無効にする",
    "Revoke this key": "このキーを無効にする",
    "This key is already revoked.": "このキーはすでに無効です。",
    "Back to my account": "マイアカウントに戻る",
    "Every system that uses this key loses access to the API at once. This cannot be undone: to give it access "
    "again, create a new key.":
        "このキーを使っているシステムは、すぐに API を利用できなくなります。元に戻すことはできません。"
        "再び利用できるようにするには、新しいキーを作成してください。",
    "API key %(name)s revoked: requests with it are refused from now on.":
        "APIキー「%(name)s」を無効にしました。今後このキーによるリクエストは拒否されます。",
}
