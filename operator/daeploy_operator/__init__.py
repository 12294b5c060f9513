"""The DaeployService operator."""
