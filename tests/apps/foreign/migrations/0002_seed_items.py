"""Five items with known pks (1-5), for the API's retrieve calls; pk 6 and up do not exist."""

from __future__ import annotations

from decimal import Decimal

from django.db import migrations

ITEMS = [(1, "apple", "0.50"), (2, "bread", "2.20"), (3, "cheese", "7.90"), (4, "dates", "3.10"), (5, "eggs", "2.75")]


def seed(apps, schema_editor):
    Item = apps.get_model("foreign", "Item")
    Item.objects.bulk_create(Item(pk=pk, name=name, price=Decimal(price)) for pk, name, price in ITEMS)


def unseed(apps, schema_editor):
    apps.get_model("foreign", "Item").objects.filter(pk__in=[pk for pk, _, _ in ITEMS]).delete()


class Migration(migrations.Migration):
    dependencies = [("foreign", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
