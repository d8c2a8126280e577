import streamlit as st
from dashboard import state

if "c" not in st.session_state:
    st.session_state["c"] = "all"
names = {"14213": "大和市", "14218": "綾瀬市"}
with st.sidebar:
    st.selectbox("x", options=["all", *names], key="c")

def home():
    st.title("home " + st.session_state["c"])
st.navigation([st.Page(home, title="H")]).run()
