"""Japanese strings of delete, archive, restore and duplicate (templates, segments, lists, forms)."""

JA = {
    # tabs, banner, actions
    "In use": "使用中",
    "Archived": "アーカイブ済み",
    "Archived (%(n)s)": "アーカイブ済み（%(n)s）",
    "Archived on %(when)s. It is hidden from lists and pickers; its history and reports are kept.":
        "%(when)s にアーカイブしました。一覧や選択肢には表示されませんが、履歴とレポートは残っています。",
    "Archive": "アーカイブ",
    "Restore": "復元",
    "Duplicate": "複製",
    "Delete…": "削除…",
    "Back": "戻る",
    "%(name)s (copy)": "%(name)s のコピー",
    "%(name)s (archived)": "%(name)s（アーカイブ済み）",
    "Copy created: %(name)s": "コピーを作成しました: %(name)s",
    "Copy created: %(name)s (%(n)s members)": "コピーを作成しました: %(name)s（メンバー %(n)s 件）",
    "Copy created: %(name)s. It is inactive until you open it to visitors.":
        "コピーを作成しました: %(name)s。公開するまでは無効のままです。",
    # the delete page
    "template": "テンプレート",
    "segment": "セグメント",
    "list": "リスト",
    "form": "フォーム",
    "Delete %(what)s": "%(what)sの削除",
    "Delete “%(name)s”?": "「%(name)s」を削除しますか？",
    "This %(what)s cannot be deleted because it is in use:": "この%(what)sは次で使われているため削除できません。",
    "Archive it instead: it disappears from lists and pickers, and everything that uses it, with its history and "
    "reports, stays as it is. You can restore it at any time.":
        "代わりにアーカイブしてください。一覧や選択肢には表示されなくなりますが、使用している配信やその履歴・"
        "レポートはそのまま残ります。いつでも復元できます。",
    "Nothing uses this %(what)s. Deleting it cannot be undone.":
        "この%(what)sはどこにも使われていません。削除すると元に戻せません。",
    "Delete permanently": "完全に削除",
    "Broadcast “%(name)s”": "一斉配信「%(name)s」",
    "Step %(n)s of the sequence “%(name)s”": "ステップメール「%(name)s」のステップ %(n)s",
    "A removed step of the sequence “%(name)s” (its sends are kept)":
        "ステップメール「%(name)s」の削除済みステップ（配信履歴を保持しています）",
    "A/B test #%(id)s": "A/Bテスト #%(id)s",
    "The trigger of the sequence “%(name)s”": "ステップメール「%(name)s」の開始条件",
    "The exit condition of the sequence “%(name)s”": "ステップメール「%(name)s」の終了条件",
    "The rules of the segment “%(name)s”": "セグメント「%(name)s」の条件",
    "Submissions with a consent record: %(n)s": "同意の記録がある送信データ: %(n)s 件",
    "Other records that refer to it (for example mails already sent)": "これを参照している他の記録（送信済みのメールなど）",
    "%(n)s contacts are on this list. They stay in your contacts; only the list is deleted.":
        "このリストには %(n)s 件のコンタクトが登録されています。コンタクトは残り、削除されるのはリストだけです。",
    "Its public address stops working; pages that embed it will show an error.":
        "公開URLは使えなくなり、フォームを埋め込んだページにはエラーが表示されます。",
    # flashes
    "Template archived: it no longer appears in lists and pickers; its history and reports are kept.":
        "テンプレートをアーカイブしました。一覧や選択肢には表示されませんが、履歴とレポートは残っています。",
    "Template restored.": "テンプレートを復元しました。",
    "Template deleted.": "テンプレートを削除しました。",
    "Segment archived: it no longer appears in lists and pickers; broadcasts and sequences using it go on.":
        "セグメントをアーカイブしました。一覧や選択肢には表示されませんが、使用中の一斉配信とステップメールはそのまま動きます。",
    "Segment restored.": "セグメントを復元しました。",
    "Segment deleted.": "セグメントを削除しました。",
    "List archived: it no longer appears in lists and pickers; its members and the segments using it stay.":
        "リストをアーカイブしました。一覧や選択肢には表示されませんが、メンバーと、このリストを使うセグメントはそのまま残ります。",
    "List restored.": "リストを復元しました。",
    "List deleted. Its contacts are still in your contacts.": "リストを削除しました。コンタクトはそのまま残っています。",
    "Form archived: its page no longer takes submissions and it is hidden from the list; its submissions and "
    "consent records are kept.":
        "フォームをアーカイブしました。フォームのページは受付を停止し、一覧にも表示されません。送信データと同意の記録は残っています。",
    "Form restored. It is still closed: set its status to active in the editor to take submissions again.":
        "フォームを復元しました。受付は停止したままです。再開するには編集画面でステータスを有効にしてください。",
    "Form deleted.": "フォームを削除しました。",
    # empty archived tabs
    "No archived templates. Archiving keeps a template and its reports while taking it out of lists and pickers.":
        "アーカイブ済みのテンプレートはありません。アーカイブすると、テンプレートとレポートを残したまま一覧や選択肢から外せます。",
    "No archived segments.": "アーカイブ済みのセグメントはありません。",
    "No archived lists.": "アーカイブ済みのリストはありません。",
    "No archived forms.": "アーカイブ済みのフォームはありません。",
}
