"""The app's pages, one blueprint per concern: `auth` (sign-in and logout), `pages` (what a
signed-in person sees, and the list of pages that drives the navigation) and `health`."""
