// Placeholder: the frontend (webfront) replaces this file.
document.querySelector("main").textContent = "MES";
