"""The eight domains of 八抓八防 with starting categories. Deadlines follow the hotline norms (emergencies the
same day, enquiries 1–3 working days, complaints 13); 五必到 categories require an on-site visit. All editable."""

from django.db import migrations

DOMAINS = [
    ("policy", "政策宣传", [
        ("policy_enquiry", "政策咨询", "normal", 1, None, False),
        ("policy_complaint", "政策落实投诉", "normal", 13, None, False),
    ]),
    ("flood", "防汛救灾", [
        ("flood_hazard", "汛情险情报告", "critical", None, 2, True),
        ("flood_evacuation", "转移避险", "urgent", 1, None, False),
        ("flood_relief", "灾后救助", "normal", 3, None, False),
    ]),
    ("relapse", "返贫监测", [
        ("relapse_lead", "返贫致贫风险线索", "normal", 5, None, False),
        ("relapse_hardship", "突发严重困难", "urgent", 1, None, True),
    ]),
    ("dispute", "矛盾调处", [
        ("dispute_neighbour", "邻里纠纷", "normal", 5, None, True),
        ("dispute_family", "家庭矛盾（婚姻家庭危机）", "normal", 3, None, True),
        ("dispute_land", "土地山林权属纠纷", "normal", 13, None, False),
        ("dispute_wages", "欠薪纠纷", "normal", 5, None, False),
    ]),
    ("security", "治安联防", [
        ("security_case", "治安案件", "urgent", 1, None, True),
        ("security_suspicious", "可疑人员与线索", "normal", 1, None, False),
        ("security_special_group", "特殊人群异常情况", "urgent", 1, None, False),
    ]),
    ("forest", "护林防火", [
        ("forest_fire", "火情", "critical", None, 1, True),
        ("forest_open_fire", "违规野外用火", "normal", 1, None, False),
    ]),
    ("risk", "风险防控", [
        ("risk_emergency", "突发事件", "critical", None, 2, True),
        ("risk_safety", "安全隐患", "normal", 3, None, False),
        ("risk_road", "道路与公共设施损坏", "normal", 5, None, False),
        ("risk_water", "供水问题", "normal", 3, None, False),
        ("risk_environment", "环境卫生", "normal", 5, None, False),
    ]),
    ("ecology", "秦岭生态保护", [
        ("ecology_logging", "乱砍滥伐", "normal", 3, None, False),
        ("ecology_pollution", "污染排放", "normal", 5, None, False),
        ("ecology_building", "违法建设", "normal", 13, None, False),
    ]),
]


def seed(apps, schema_editor):
    Domain = apps.get_model("cases", "Domain")
    Category = apps.get_model("cases", "Category")
    for order, (code, name, categories) in enumerate(DOMAINS, start=1):
        domain, _ = Domain.objects.get_or_create(code=code, defaults={"name": name, "order": order})
        for ccode, cname, urgency, days, hours, onsite in categories:
            Category.objects.get_or_create(
                code=ccode,
                defaults=dict(domain=domain, name=cname, urgency=urgency, deadline_days=days, deadline_hours=hours,
                              onsite_required=onsite),
            )


def unseed(apps, schema_editor):
    apps.get_model("cases", "Category").objects.filter(cases__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_cases")]
    operations = [migrations.RunPython(seed, unseed)]
