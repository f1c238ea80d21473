"""Japanese of a sequence's activation as a journey and its draft page (issue 17: every sequence runs as a
linear journey). A journey is a シナリオ, a sequence a ステップメール, as elsewhere."""

JA = {
    "Sequence activated: it runs as a journey now. Pause it, edit it and enrol contacts here.":
        "ステップメールの稼働を開始しました。これからはシナリオとして動きます。一時停止・編集・コンタクトの登録はこちらで行います。",
    "This sequence is a draft: activate it first, then enrol contacts on its journey.":
        "このステップメールは下書きです。先に稼働を開始してから、そのシナリオでコンタクトを登録してください。",
    "This sequence is a draft: nobody receives it yet. Activating it turns it into a journey, which runs it: there "
    "you pause it, enrol contacts, edit it as new versions and read its report.":
        "このステップメールは下書きで、まだ誰にも配信されません。稼働を開始するとシナリオになり、シナリオとして配信されます。"
        "一時停止、コンタクトの登録、新しいバージョンとしての編集、レポートの確認はシナリオで行います。",
    "This sequence runs as a journey: its report, with every mail, is on the journey.":
        "このステップメールはシナリオとして動いています。すべての配信を含むレポートはシナリオにあります。",
    "this sequence ran as a journey that is archived now; duplicate the journey":
        "このステップメールのシナリオはアーカイブ済みです。シナリオを複製してください",
    "this sequence ran as a journey that is archived now": "このステップメールのシナリオはアーカイブ済みです",
    "this sequence is a draft: it is not running, so there is nothing to pause":
        "このステップメールは下書きで、動いていないため一時停止できません",
}
