"""What a person sees: the live terminal view and the timeline plots."""
