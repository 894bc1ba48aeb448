"""Seeds the tag dictionary: the special groups of GB/T 31000 and the care groups of PRODUCT.md §3."""

from django.db import migrations

TAGS = [
    # code, name, group, sensitive
    ("released_prisoner", "刑满释放人员", "special", True),
    ("community_correction", "社区矫正人员", "special", True),
    ("mental_disorder", "肇事肇祸等严重精神障碍患者", "special", True),
    ("drug_user", "吸毒人员", "special", True),
    ("hiv_risk", "艾滋病危险人员", "special", True),
    ("key_youth", "重点青少年", "special", False),
    ("left_behind_child", "留守儿童", "care", False),
    ("left_behind_woman", "留守妇女", "care", False),
    ("left_behind_elderly", "留守老人", "care", False),
    ("empty_nest_elderly", "空巢老人", "care", False),
    ("living_alone_elderly", "独居老人", "care", False),
    ("wubao", "五保/特困人员", "care", False),
    ("dibao", "低保对象", "care", False),
    ("disabled", "残疾人", "care", False),
    ("unstable_after_poverty", "脱贫不稳定户成员", "care", False),
    ("monitored", "防返贫监测对象", "care", False),
]


def seed(apps, schema_editor):
    Tag = apps.get_model("registry", "Tag")
    for order, (code, name, group, sensitive) in enumerate(TAGS, start=1):
        Tag.objects.get_or_create(code=code, defaults={"name": name, "group": group, "sensitive": sensitive,
                                                      "order": order * 10})


def unseed(apps, schema_editor):
    apps.get_model("registry", "Tag").objects.filter(code__in=[t[0] for t in TAGS], person_tags__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
