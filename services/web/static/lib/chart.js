// uPlot (vendor/uplot, MIT, ~50 KB minified, canvas time series) loaded on the first chart:
// the plant page never downloads it.

let loading = null;

function addStylesheet(href) {
  if (document.querySelector(`link[href="${href}"]`)) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  document.head.append(link);
}

export function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (loading) return loading;
  addStylesheet(new URL("../vendor/uplot/uPlot.min.css", import.meta.url).href);
  loading = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = new URL("../vendor/uplot/uPlot.iife.min.js", import.meta.url).href;
    script.onload = () => resolve(window.uPlot);
    script.onerror = () => {
      loading = null;
      reject(new Error("Não foi possível carregar a biblioteca de gráficos."));
    };
    document.head.append(script);
  });
  return loading;
}

/** uPlot's `tzDate`: a Date whose local fields read the plant's wall clock. */
export function plantTz(offsetMinutes) {
  return (ts) => {
    const date = new Date(ts * 1000);
    return new Date(date.getTime() + (offsetMinutes + date.getTimezoneOffset()) * 60000);
  };
}

/** Width available to a chart inside `element`. */
export function chartWidth(element) {
  return Math.max(280, Math.floor(element.getBoundingClientRect().width) - 4);
}

/**
 * Redraws the charts at their container's width when the window changes size; returns the
 * function that stops watching.
 */
export function autoResize(entries) {
  let frame = 0;
  const onResize = () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      for (const { plot, element, height } of entries) {
        if (element.isConnected) plot.setSize({ width: chartWidth(element), height });
      }
    });
  };
  window.addEventListener("resize", onResize);
  return () => window.removeEventListener("resize", onResize);
}
