"""Japanese for the import's repeated rows and its downloadable refused rows."""

JA = {
    "Rows repeated in the file": "ファイル内で重複している行",
    "These rows repeat an address that appears earlier in the file. Only one contact is kept for each address.":
        "これらの行は、ファイル内で先に出てきたメールアドレスと重複しています。同じアドレスの連絡先は1件だけ登録されます。",
    "First seen on line": "最初に出てきた行",
    "What happened": "処理内容",
    "earlier in the file": "ファイルのより前の行",
    "Its filled-in values were added to the first row": "入力済みの値を最初の行に反映しました",
    "Ignored: the first row was kept": "無視しました（最初の行を採用）",
    "Showing the first 200 of %(n)s listed rows.": "記録された%(n)s行のうち最初の200行を表示しています。",
    "Download these rows (CSV)": "これらの行をダウンロード（CSV）",
    "Problem": "問題",
    "Repeated: values added to the first row": "重複: 値を最初の行に反映",
    "Repeated: ignored": "重複: 無視",
    "Rows read": "読み込んだ行",
    "Skipped (already there)": "スキップ（登録済み）",
    "Repeated in the file": "ファイル内の重複",
}
