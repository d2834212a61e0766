"""Read-only Django admin pages: look, don't touch.

Every write that matters (memberships, roles, grants, connections, secrets) goes through an audited service that
also revokes what an access change takes away; the admin would bypass all of that. These bases give list, search,
filters and a detail page, and refuse add, change and delete (403 on the URLs, no buttons, no bulk actions).

Secrets: a model admin names the columns it must never show in `exclude` (sealed ciphertext, token hashes, session
keys); the detail page shows every other field, read-only. Lists: `list_select_related` must name every relation a
list column or `__str__` follows, so a list page costs the same number of queries for 2 rows or 200
(tests/test_admin.py).
"""

from django.contrib import admin


class ReadOnlyAdminMixin:
    actions = None  # no "delete selected"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyModelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """List, search, filters and a read-only detail page showing every field but the ones in `exclude`."""

    show_full_result_count = False  # one COUNT(*) fewer on every filtered list

    def get_fields(self, request, obj=None):
        if self.fields:
            return self.fields
        hidden = set(self.exclude or ())
        meta = self.model._meta
        return [f.name for f in meta.get_fields()
                if (f.concrete or f.many_to_many) and not f.auto_created and f.name not in hidden]


class ReadOnlyTabularInline(ReadOnlyAdminMixin, admin.TabularInline):
    """Rows shown under their parent, every field read-only (so no form field exists to post), no add/delete."""

    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return list(self.fields or ())
