"""The signed-in person's own preferences (today: the time zone pages show times in), from the user menu.

Not team-scoped: it changes only the person's own display, so it needs no funnel call beyond being signed in."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone

from portal.accounts import services
from portal.accounts.forms import PreferencesForm


@login_required
def preferences(request):
    form = PreferencesForm(request.POST if request.method == "POST" else None,
                           initial={"time_zone": request.user.time_zone})
    if request.method == "POST" and form.is_valid():
        try:
            services.user_preferences_set(user=request.user, time_zone=form.cleaned_data["time_zone"])
        except services.ServiceError as exc:
            form.add_error("time_zone", str(exc))
        else:
            messages.success(request, f"Times are now shown in {form.cleaned_data['time_zone']}.")
            return redirect("accounts:preferences")
    return render(request, "accounts/preferences.html", {"form": form, "now_utc": timezone.now()},
                  status=400 if form.is_bound and form.errors else 200)
