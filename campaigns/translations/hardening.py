"""Japanese strings of the input hardening (unknown host names, bounded parameters)."""
JA = {
    "Unknown host name.": "不明なホスト名です。",
    "The address of this page holds a character that is not allowed.": "このページのアドレスに使用できない文字が含まれています。",
}
