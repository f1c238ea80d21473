"""Japanese strings of the input hardening (unknown host names, bounded parameters)."""
JA = {
    "Unknown host name.": "不明なホスト名です。",
    # the hand-over delivery log's one text for a refused address, an unknown name, a closed port, a timeout
    "no answer: the receiver could not be reached": "応答なし: 受信先に接続できませんでした",
    "The address of this page holds a character that is not allowed.": "このページのアドレスに使用できない文字が含まれています。",
}
