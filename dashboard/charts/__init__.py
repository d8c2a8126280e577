"""Chart builders, one module per page: frames in, alt.Chart or pdk.Deck out, no streamlit."""
