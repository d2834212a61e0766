"""Template helpers for lists and times: `{% load portal_ui %}`.

- `{{ value|when }}` / `{{ value|when:"Y-m-d H:i:s" }}`: the moment in the viewer's time zone (activated by
  portal.accounts.middleware) inside `<time datetime="…Z" title="… UTC">`, UTC on hover.
- `{% page_url "page" 3 %}`: the current query string (filters kept) with one parameter set; pagination links.
"""

from django import template

from portal.lib.timezones import time_html

register = template.Library()


@register.filter(is_safe=True)
def when(value, fmt="Y-m-d H:i"):
    return time_html(value, fmt)


@register.simple_tag(takes_context=True)
def page_url(context, param, value, drop=""):
    """`?` + the request's query string with `param`=`value` (and the parameters named in `drop`, comma-separated,
    removed)."""
    query = context["request"].GET.copy()
    for name in [param, *(d for d in drop.split(",") if d)]:
        query.pop(name, None)
    if value not in (None, ""):
        query[param] = value
    return "?" + query.urlencode()


@register.simple_tag(takes_context=True)
def elided_pages(context, page):
    """Page numbers around the current one, with Paginator.ELLIPSIS (also put in the context as `ellipsis`)."""
    context["ellipsis"] = page.paginator.ELLIPSIS
    return list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
